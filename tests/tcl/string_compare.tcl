puts [string equal abc abc][string equal abc abd]
puts [string equal -nocase ABC abc]
puts [string equal -length 2 abc abd]
puts [string compare a b][string compare b a][string compare a a]
puts [string compare -nocase A a]
puts [string compare -length 1 ab ac]
puts [string compare abc ab]
puts [catch {string compare -foo a b} m]
puts $m
puts [catch {string equal a} m]
puts $m
