set a(x) 1
set a(y) 2
puts [lsort [array names a]]
puts [array size a]
puts [array exists a][array exists nope]
array set b {k1 v1 k2 v2}
puts [lsort [array get b]]
puts "<[array get nope]>"
puts [array size nope]
array set c {b 1 a 2}
puts [lsort [array names c b*]]
array unset a x
puts [array size a]
array unset a
puts [info exists a]
incr cnt(hits)
incr cnt(hits)
puts $cnt(hits)
lappend lst(k) a b
puts $lst(k)
set i 0
foreach n {p q r} { set m($n) [incr i] }
foreach n [lsort [array names m]] { puts "$n -> $m($n)" }
set a2(x)(y) 2
puts [array names a2]
