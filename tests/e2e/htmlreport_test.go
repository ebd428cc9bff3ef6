package e2e

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"strconv"
	"strings"

	"golang.org/x/net/html"
)

// renderedDOM is what chromium's --dump-dom printed, parsed.
type renderedDOM struct{ root *html.Node }

func parseDOM(dom string) (renderedDOM, error) {
	n, err := html.Parse(strings.NewReader(dom))
	return renderedDOM{root: n}, err
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, class string) bool {
	for _, c := range strings.Fields(attr(n, "class")) {
		if c == class {
			return true
		}
	}
	return false
}

// find returns every element under n (n included) for which keep is true, in document order.
func find(n *html.Node, keep func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && keep(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func byTagClass(tag, class string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == tag && (class == "" || hasClass(n, class)) }
}

func textOf(n *html.Node) string {
	var b strings.Builder
	for _, t := range find(n, func(*html.Node) bool { return true }) {
		for c := t.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.TextNode {
				b.WriteString(c.Data)
			}
		}
	}
	return b.String()
}

func floatAttr(n *html.Node, key string) (float64, error) {
	v := attr(n, key)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("<%s class=%q> %s=%q is not a number", n.Data, attr(n, "class"), key, v)
	}
	return f, nil
}

// pixelsNear counts the pixels of a PNG within tol of colour hex ("#rrggbb").
func pixelsNear(path, hex string, tol int) (count int, size image.Point, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, size, err
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return 0, size, fmt.Errorf("decode %s: %w", path, err)
	}
	want, err := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	if err != nil {
		return 0, size, err
	}
	wr, wg, wb := int(want>>16&0xff), int(want>>8&0xff), int(want&0xff)
	near := func(a, b int) bool { return a-b <= tol && b-a <= tol }
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if near(int(r>>8), wr) && near(int(g>>8), wg) && near(int(b>>8), wb) {
				count++
			}
		}
	}
	return count, bounds.Size(), nil
}
