puts before
puts "a"b
puts after
