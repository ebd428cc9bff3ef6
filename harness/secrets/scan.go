package secrets

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Finding is one place where a secret value was found. It never holds the
// value, only its fingerprint.
type Finding struct {
	// File is relative to the scanned directory.
	File        string `json:"file"`
	Line        int    `json:"line"`
	Fingerprint string `json:"fingerprint"`
	// Encoding is "raw" or "base64".
	Encoding string `json:"encoding"`
}

func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: secret %s (%s)", f.File, f.Line, f.Fingerprint, f.Encoding)
}

// ScanDir reads every regular file under dir and reports each occurrence of
// any of values, raw or base64-encoded. Values shorter than MinSecretLen are
// skipped, as Add skips them. An empty result proves dir holds none of them.
func ScanDir(dir string, values []string) ([]Finding, error) {
	idx := newNeedleIndex(values)
	var findings []Finding
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("scan %s: %w", path, err)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("scan %s: %w", path, err)
		}
		rel, _ := filepath.Rel(dir, path)
		idx.find(data, func(at int, n needle) {
			findings = append(findings, Finding{
				File:        filepath.ToSlash(rel),
				Line:        1 + bytes.Count(data[:at], []byte{'\n'}),
				Fingerprint: n.fingerprint,
				Encoding:    n.encoding,
			})
		})
		return nil
	})
	sort.SliceStable(findings, func(i, j int) bool { // stable: positions order a line
		if findings[i].File != findings[j].File {
			return findings[i].File < findings[j].File
		}
		return findings[i].Line < findings[j].Line
	})
	return findings, err
}

type needle struct {
	form        []byte
	fingerprint string
	encoding    string
}

// needleIndex finds many needles in one pass: a nightly's artifacts (600 MB)
// against every token of 30 runs (hundreds, some over 1 KB) took hours with a
// bytes.Index per needle. Needles are keyed by their first MinSecretLen bytes
// and their first two bytes prefilter every position; memory stays that of
// the needles (an Aho-Corasick trie with 256 links a state would take 2 KiB a
// needle byte).
type needleIndex struct {
	needles []needle
	byHead  map[[MinSecretLen]byte][]int
	pair    *[1 << 16]bool
}

func newNeedleIndex(values []string) *needleIndex {
	idx := &needleIndex{byHead: map[[MinSecretLen]byte][]int{}, pair: new([1 << 16]bool)}
	seen := map[string]bool{}
	for _, v := range values {
		if len(v) < MinSecretLen || seen[v] {
			continue
		}
		seen[v] = true
		fp := Fingerprint(v)
		for _, n := range []needle{{[]byte(v), fp, "raw"}, {[]byte(base64.StdEncoding.EncodeToString([]byte(v))), fp, "base64"}} {
			head := [MinSecretLen]byte(n.form[:MinSecretLen])
			idx.byHead[head] = append(idx.byHead[head], len(idx.needles))
			idx.pair[int(n.form[0])<<8|int(n.form[1])] = true
			idx.needles = append(idx.needles, n)
		}
	}
	return idx
}

// find calls found for every occurrence of every needle in data; occurrences
// of one needle do not overlap.
func (idx *needleIndex) find(data []byte, found func(at int, n needle)) {
	if len(idx.needles) == 0 {
		return
	}
	next := make([]int, len(idx.needles)) // where each needle may match again
	for i := 0; i+MinSecretLen <= len(data); i++ {
		if !idx.pair[int(data[i])<<8|int(data[i+1])] {
			continue
		}
		for _, ni := range idx.byHead[[MinSecretLen]byte(data[i:i+MinSecretLen])] {
			n := idx.needles[ni]
			if i >= next[ni] && bytes.HasPrefix(data[i:], n.form) {
				found(i, n)
				next[ni] = i + len(n.form)
			}
		}
	}
}
