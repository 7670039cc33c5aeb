proc f {} { return 1 }
rename f g
puts [g]
puts [info commands f]
rename g ""
puts "<[info commands g]>"
proc h {} { return h }
puts [catch {rename h set} m]
puts $m
puts [catch {rename nope x} m]
puts $m
rename string str
puts [str length abc]
rename str string
puts [string length abcd]
