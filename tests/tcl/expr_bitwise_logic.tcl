puts [expr {5 & 3}][expr {5 | 3}][expr {5 ^ 3}]
puts [expr {~0}]
puts [expr {~5}]
puts [expr {1 << 70}]
puts [expr {-8 >> 1}]
puts [expr {~0 >> 100}]
puts [expr {5 & 3 | 8 ^ 1}]
puts [expr {!0}][expr {!5}][expr {!!5}][expr {!"yes"}][expr {!0.0}]
puts [expr {1 && 0}][expr {1 || 0}][expr {0 || 0}][expr {"true" && "on"}]
set n 0
expr {0 && [incr n]}
expr {1 || [incr n]}
puts "short-circuit: $n"
expr {1 && [incr n]}
puts "evaluated: $n"
puts [expr {1 && [error x] || 1}]
