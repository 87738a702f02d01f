// Package domain is the registrar's pure heart: the Cluster, DNRange and
// Device aggregates of Cisco CallManager autoregistration, as commands,
// events and two functions over plain values, Decide(world, command, now)
// and Evolve(state, event). It owns the rules of the CallManager guide's
// autoregistration chapter, the events' stable names and JSON coding
// (Encode, Decode), the model catalogue, route patterns and calling search
// spaces.
//
// It imports the standard library only, does no I/O, keeps no clock and
// logs nothing (purity_test.go holds it to that); every other package may
// import it.
package domain
