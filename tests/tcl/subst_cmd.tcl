set x 1
puts [subst {a $x [expr 1+1] \n}]
puts [subst -novariables {$x [set x]}]
puts [subst -nocommands {$x [a]}]
puts [subst -nobackslashes {a\nb $x}]
puts [catch {subst {a [}} m]
puts $m
puts [catch {subst} m]
puts $m
