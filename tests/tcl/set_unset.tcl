puts [set a 1]
puts [set a]
set b $a
unset a
puts [info exists a]
puts [info exists b]
unset -nocomplain nope
unset -nocomplain -- b
puts [info exists b]
set x 1; set y 2
unset x y
puts [list [info exists x] [info exists y]]
puts [catch {unset nope} msg]
puts $msg
puts [catch {set} msg]
puts $msg
puts [catch {set nope} msg]
puts $msg
