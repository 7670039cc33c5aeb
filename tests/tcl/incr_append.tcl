set i 5
puts [incr i]
puts [incr i 10]
puts [incr i -20]
puts [incr new]
puts [incr big 99999999999999999999]
puts [incr hex 0x10]
puts [catch {incr i abc} m]
puts $m
puts [catch {set s abc; incr s} m]
puts $m
puts [catch {incr i 1.5} m]
puts $m
puts [catch {incr} m]
puts $m
set s abc
puts [append s def ghi]
puts [append t]
puts [append u x]
puts [catch {append} m]
puts $m
