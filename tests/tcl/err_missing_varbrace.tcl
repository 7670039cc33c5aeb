puts before
puts ${name
