for {set i 0} {$i < 5} {incr i} { puts -nonewline $i }
puts ""
for {set i 0} {$i < 10} {incr i} {
    if {$i % 2} continue
    if {$i > 6} break
    lappend evens $i
}
puts $evens
for {set i 10} {$i > 0} {set i [expr {$i / 2}]} { lappend halves $i }
puts $halves
puts [catch {for a b c} m]
puts $m
