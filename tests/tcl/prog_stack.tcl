proc push {stackvar v} { upvar 1 $stackvar s; lappend s $v }
proc pop {stackvar} {
    upvar 1 $stackvar s
    set v [lindex $s end]
    set s [lrange $s 0 end-1]
    return $v
}
set st {}
push st 1; push st 2; push st {three 3}
puts $st
puts [pop st]
puts [pop st]
puts $st
