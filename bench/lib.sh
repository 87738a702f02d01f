# Shared by the bench scripts (sourced, not run).

# sipp_stats FILE: from sipp's -trace_stat CSV, the run's cumulative figures:
# "calls/s retransmissions failed successful seconds".
sipp_stats() {
	awk -F';' 'NR==1{for(i=1;i<=NF;i++)h[$i]=i; next} {last=$0} END{
		split(last,f,";");
		ok=f[h["SuccessfulCall(C)"]]; bad=f[h["FailedCall(C)"]]; rt=f[h["Retransmissions(C)"]];
		n=split(f[h["ElapsedTime(C)"]],t,":"); secs=t[1]*3600+t[2]*60+t[3]+(n>3?t[4]/1e6:0);
		printf "%.0f %d %d %d %.2f\n", (secs>0?ok/secs:0), rt, bad, ok, secs }' "$1"
}

# ratio A B: A/B as "1.23x" ("n/a" when B is 0).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.2fx", a/b; else print "n/a" }'; }
