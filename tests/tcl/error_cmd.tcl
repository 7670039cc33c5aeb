puts [catch {error "a message"} m]
puts $m
puts [catch {error msg info CODE} m]
puts $m
puts [catch {error} m]
puts $m
proc check {v} { if {$v < 0} { error "negative: $v" }; return ok }
puts [check 1]
puts [catch {check -5} m]
puts $m
