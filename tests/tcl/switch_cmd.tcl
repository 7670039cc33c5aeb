proc kind {x} {
    switch $x {
        apple - banana { return fruit }
        carrot { return vegetable }
        default { return unknown }
    }
}
puts [kind apple][kind banana][kind carrot][kind rock]
puts [switch -glob abc {a* {set r 1} default {set r 2}}]
puts [switch -exact -- b a {set r 1} b {set r 2}]
puts "<[switch x {a {set r 1}}]>"
puts [switch -nocase ABC {abc {set r matched}}]
puts [switch -- -x {-x {set r dash}}]
foreach s {{switch} {switch a} {switch a {a -}} {switch a {a}}} {
    catch $s m
    puts $m
}
