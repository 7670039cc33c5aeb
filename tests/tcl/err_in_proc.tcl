proc inner {x} { return [expr {$x / 0}] }
proc outer {} { inner 5 }
puts calling
outer
