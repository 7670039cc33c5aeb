set a(1) x
set s 1
foreach cmd {
    {set a} {set s(1) x} {set a 2} {set a(2)} {set s(2)} {unset a(2)} {array set q {x}}
    {array set s {a b}} {array} {array names} {array size}
} {
    catch $cmd m
    puts $m
}
