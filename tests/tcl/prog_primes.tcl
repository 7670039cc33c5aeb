proc isprime {n} {
    if {$n < 2} { return 0 }
    for {set d 2} {$d * $d <= $n} {incr d} {
        if {$n % $d == 0} { return 0 }
    }
    return 1
}
set primes {}
for {set i 0} {$i < 60} {incr i} { if {[isprime $i]} { lappend primes $i } }
puts $primes
puts [llength $primes]
