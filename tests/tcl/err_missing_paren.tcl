set a(1) x
puts $a(1
