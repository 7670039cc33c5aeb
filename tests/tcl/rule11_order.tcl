# Rule 11: substitutions happen left to right, each character once.
set a 1
puts "[incr a] [incr a] $a"
set x {$y}
set y never
puts $x
puts [set z {[oops]}]
set b 5
puts "[set b 6] $b"
