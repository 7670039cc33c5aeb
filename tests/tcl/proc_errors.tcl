proc f {a {b 2} args} {}
proc g {a {b 2}} {}
proc h {a} {}
proc k {} {}
foreach s {{f} {g 1 2 3} {h} {k 1} {proc} {proc x} {proc y {{}} {}} {proc z {{a b c}} {}}} {
    catch $s m
    puts $m
}
