package model

import "github.com/smplat/smplat/store"

// ProductConnection is a page of products plus what totalCount needs to be
// computed lazily (only when a client asks for it).
type ProductConnection struct {
	Edges    []ProductEdge
	Nodes    []store.Product
	PageInfo *PageInfo
	Filter   store.ProductFilter
}

// OrderConnection is a page of orders; totalCount is computed lazily.
type OrderConnection struct {
	Edges    []OrderEdge
	Nodes    []store.Order
	PageInfo *PageInfo
	Filter   store.OrderFilter
}
