proc setcaller {name value} { upvar 1 $name v; set v $value }
setcaller x 10
puts $x
proc incrcaller {name} { upvar $name v; incr v }
incrcaller x
puts $x
proc setglobal {} { upvar #0 gv v; set v global-value }
setglobal
puts $gv
proc up {} { uplevel 1 {set fromup 1} }
up
puts $fromup
proc up0 {} { uplevel #0 {set top 2} }
up0
puts $top
proc inner {} { uplevel 1 {set local} }
proc outer {} { set local outer-local; inner }
puts [outer]
proc elem {} { upvar 1 arr(k) e; set e 5 }
elem
puts $arr(k)
proc unsetit {} { upvar 1 x y; unset y }
unsetit
puts [info exists x]
proc readmissing {} { upvar nope y; set y }
puts [catch readmissing m]
puts $m
proc badlevel {} { uplevel 5 {set z 9} }
puts [catch badlevel m]
puts $m
puts [catch {upvar 5 x y} m]
puts $m
puts [catch {upvar #0 q q} m]
puts $m
puts [catch {uplevel {set zz 1}} m]
puts $m
puts [uplevel 0 {set zz 1}]
proc args2 {} { uplevel 1 set x 3 }
args2
puts $x
