set sum 0
for {set i 0} {$i < 2000} {incr i} { incr sum $i }
puts $sum
set s ""
foreach i {a b c d e f g h} { append s $i }
puts $s
set n 0
while {$n < 1000} { set n [expr {$n + 3}] }
puts $n
