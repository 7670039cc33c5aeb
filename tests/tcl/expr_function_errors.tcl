foreach e {
    {max()} {min()} {abs()} {abs(1,2)} {int(1,2)} {foo(1)} {sqrt(-1)} {log(-1)}
    {int("x")} {double("x")} {round("x")} {max(1,"x")} {sqrt("x")} {round(Inf)} {int(Inf)}
} {
    catch {expr $e} m
    puts "$e: $m"
}
