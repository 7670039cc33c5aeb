puts [catch {set x 1}]
puts [catch {error oops} m]
puts $m
puts [catch {return 5} m]
puts $m
puts [catch {break}]
puts [catch {continue}]
puts [catch {expr 1/0} m]
puts $m
set r [catch {set y 2} m]
puts "$r $m"
puts [catch {nope} m o]
puts $m
puts [catch {set x 1} m o]
puts $o
puts [catch {return -code 5 x} m o]
puts "$m / $o"
puts [catch {return -level 0 -code 5 x} m]
puts [catch {return -level 0 -code break x} m]
puts [catch {return -level 0 -code error x} m]
puts $m
puts [catch {catch} m]
puts $m
