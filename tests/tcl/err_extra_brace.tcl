puts before
puts {a}b
