puts before
puts "never
