set x 1
puts $x
puts $nope
