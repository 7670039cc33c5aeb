proc apply_twice {cmd x} { return [{*}$cmd [{*}$cmd $x]] }
proc double {x} { expr {$x * 2} }
puts [apply_twice double 5]
puts [apply_twice {string repeat} ab]
proc make_counter {name} {
    uplevel #0 [list set $name 0]
    proc $name {} [format {incr ::%s} $name]
}
make_counter c1
c1; c1
puts [c1]
proc sum args {
    set t 0
    foreach v $args { set t [expr {$t + $v}] }
    return $t
}
puts [sum 1 2 3 4.5]
puts [sum {*}{10 20 30}]
