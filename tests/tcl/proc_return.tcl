proc early {x} { if {$x} { return early }; return late }
puts [early 1][early 0]
proc noval {} { return }
puts "<[noval]>"
proc err {} { return -code error "bad thing" }
puts [catch err m]
puts $m
proc brk {} { return -code break }
foreach i {1 2 3} { puts $i; brk }
proc cont {} { return -code continue }
foreach i {1 2} { cont; puts never }
proc up2 {} { return -level 2 fromf }
proc caller {} { up2; return notreached }
puts [caller]
proc lvl0 {} { return -level 0 direct }
puts [lvl0]
puts [catch {return -code foo} m]
puts $m
puts [catch {return -level x} m]
puts $m
