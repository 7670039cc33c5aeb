# Rules 3, 4 and 6: quotes and braces only matter at the start of a word.
puts a"b"c
puts a{b}c
set x a"b
puts $x
puts [llength {a"b c}]
puts [string length a{]
