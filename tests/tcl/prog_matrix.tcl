set m {{1 2 3} {4 5 6} {7 8 9}}
set t {}
for {set j 0} {$j < 3} {incr j} {
    set row {}
    foreach r $m { lappend row [lindex $r $j] }
    lappend t $row
}
puts $t
set total 0
foreach row $m { foreach v $row { incr total $v } }
puts $total
puts [lindex $m 1 2]
