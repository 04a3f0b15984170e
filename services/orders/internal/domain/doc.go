// Package domain holds the orders model: orders, their lines, money in minor
// units and the errors the use cases report. It does no I/O.
package domain
