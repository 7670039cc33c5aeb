set a 6
set b 7
puts [expr {$a * $b}]
puts [expr $a * $b]
puts [expr {[string length hello] + 1}]
set op +
puts [expr "3 $op 4"]
set arr(x) 5
puts [expr {$arr(x) * 2}]
puts [expr {"$a$b" + 1}]
puts [expr {{12} + 1}]
set s {1 + 1}
puts [expr $s]
puts [expr {$s}]
puts [expr {[expr {1.0}] eq "1.0"}]
