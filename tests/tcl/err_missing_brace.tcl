puts before
puts {never
