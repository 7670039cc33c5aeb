set i 0
while {$i < 10} {
    incr i
    if {$i == 3} continue
    if {$i == 7} break
    puts -nonewline "$i "
}
puts ""
puts "after: $i"
set n 0
while 0 { puts never }
puts [while {$n < 3} { incr n }]
puts [catch {while 1} m]
puts $m
