proc safe_div {a b} {
    if {[catch {expr {$a / $b}} r]} { return "error: $r" }
    return $r
}
puts [safe_div 10 2]
puts [safe_div 10 0]
puts [safe_div 10 x]
proc retry {n} {
    for {set i 1} {$i <= $n} {incr i} {
        if {![catch {if {$i < 3} { error "try $i failed" }; set ok $i} msg]} { return "ok after $msg" }
        puts $msg
    }
    error "gave up"
}
puts [retry 5]
puts [catch {retry 2} m]
puts $m
