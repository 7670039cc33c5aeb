set v 1
puts [info exists v][info exists nope]
set a(x) 1
puts [info exists a][info exists a(x)][info exists a(y)]
puts [info complete "set a \{"]
puts [info complete "set a \{\}"]
puts [info complete "set a \["]
puts [info complete "set a \""]
puts [info complete "set a \{\}x"]
puts [info complete {set a $b(c}]
puts [info complete ""]
puts [info complete "# \{"]
proc myproc1 {a {b 2}} { return body }
proc myproc2 {} {}
puts [lsort [info procs myproc*]]
puts [info commands set]
puts [lsort [info commands myproc*]]
puts "<[info commands nope*]>"
puts [info args myproc1]
puts [info body myproc1]
puts [info default myproc1 b dv]
puts $dv
puts [info default myproc1 a dv]
puts [info level]
proc lv {} { info level }
proc lv2 {} { lv }
puts [lv][lv2]
proc locals {a} { set b 1; lsort [info locals] }
puts [locals 1]
puts [catch {info args nope} m]
puts $m
puts [catch {info exists} m]
puts $m
