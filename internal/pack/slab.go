package pack

// Slab holds records of type T in fixed chunks that never move, each
// record at a number: a map from a key to a uint32 number plus a Slab costs
// less than a map holding the records by value (a map's tables are a
// third to a half empty on average, a Slab's chunks are full but the
// last) and a record's address stays valid until it is freed. With a T
// free of pointers, the garbage collector never scans the chunks. The zero
// Slab is ready to use; it is not safe for concurrent use.
type Slab[T any] struct {
	chunks [][]T
	free   []uint32 // numbers freed, reused first
	n      uint32   // numbers handed out, freed or not
}

// slabChunk is the number of records in a chunk.
const slabChunk = 1024

// New returns a new record, zero, and its number.
func (s *Slab[T]) New() (uint32, *T) {
	if n := len(s.free); n > 0 {
		i := s.free[n-1]
		s.free = s.free[:n-1]
		return i, s.At(i)
	}
	i := s.n
	if int(i/slabChunk) == len(s.chunks) {
		s.chunks = append(s.chunks, make([]T, slabChunk))
	}
	s.n++
	return i, s.At(i)
}

// At returns the record numbered i, which New handed out.
func (s *Slab[T]) At(i uint32) *T { return &s.chunks[i/slabChunk][i%slabChunk] }

// Free zeroes the record numbered i and makes its number available to New.
func (s *Slab[T]) Free(i uint32) {
	var zero T
	*s.At(i) = zero
	s.free = append(s.free, i)
}

// Len is the number of records held (handed out and not freed).
func (s *Slab[T]) Len() int { return int(s.n) - len(s.free) }
