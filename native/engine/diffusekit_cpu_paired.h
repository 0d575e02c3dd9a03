// Cache blocking over the shared register block (diffusekit_cpu_gemm.h), and the bf16 product built on it that
// convolutions (diffusekit_cpu_conv.cpp) and linear layers (diffusekit_cpu_matmul.cpp) share:
// out[r][p] = sum over k of A[r][k] * X[k][p], where A's rows are the broadcast side (a convolution's weights,
// a linear layer's activations) and X is read as pair planes (lane p of plane j: X[2j][p] and X[2j + 1][p]
// in bf16, side by side as vdpbf16ps sums them).
#pragma once

#include "diffusekit_cpu_gemm.h"

#if DIFFUSEKIT_CPU_VECTOR

#include <algorithm>
#include <cstdint>
#include <vector>

#include "ggml-cpu-impl.h"

namespace diffusekit_cpu {

// A slice of the sum (input channels, or pairs of K) whose weights (one block: L1; all blocks: L2) stay
// cached while a group of tiles (its outputs in L2) runs through every channel block in [b0, b1); then the
// next slice. The threads share every group's channel blocks equally, so each does the same work whatever
// the groups' sizes (handing out whole groups left one thread three tiles of a 16x16 plane's four and the
// other one); with fewer blocks than threads they take turns at groups of at most a thread's share of tiles.
// product(blk, d0, n, tile, accumulate) runs one block of one slice.
template <class Describe, class Product>
void sweep(int64_t tiles, int64_t b0, int64_t b1, int64_t depth, int64_t perSlice, Describe&& describeTile, Product&& product, int ith,
           int nth) {
    const int64_t blocks   = b1 - b0;
    const bool    byBlocks = blocks >= nth;
    int64_t perGroup = std::clamp<int64_t>((512 << 10) / (blocks * R * V * L * 4), 1, tiles);
    if (!byBlocks) perGroup = std::min(perGroup, (tiles + nth - 1) / nth);
    const int64_t groups = (tiles + perGroup - 1) / perGroup;
    const int64_t s0 = byBlocks ? b0 + blocks * ith / nth : b0, s1 = byBlocks ? b0 + blocks * (ith + 1) / nth : b1;
    std::vector<Tile> group(perGroup);
    for (int64_t g = byBlocks ? 0 : ith; g < groups; g += byBlocks ? 1 : nth) {
        const int64_t t0 = g * perGroup, t1 = std::min(tiles, t0 + perGroup);
        for (int64_t t = t0; t < t1; ++t) describeTile(t, group[t - t0]);
        for (int64_t d0 = 0; d0 < depth; d0 += perSlice) {
            const int64_t n = std::min(perSlice, depth - d0);
            for (int64_t blk = s0; blk < s1; ++blk) {
                for (int64_t t = t0; t < t1; ++t) product(blk, d0, n, group[t - t0], d0 > 0);
            }
        }
    }
}

#if DIFFUSEKIT_CPU_BF16

// The bf16 product's geometry. A's rows are rounded to bf16 a range of R-row blocks at a time (bounded work
// buffer), X's pair planes a run of columns at a time.
struct Paired {
    static constexpr int64_t kRowBudget   = 8 << 20;   // bytes of A's bf16 rows per range
    static constexpr int64_t kPlaneBudget = 16 << 20;  // bytes of pair planes per column run

    int64_t rows = 0, K = 0, columns = 0;
    int64_t pairs = 0, Kp = 0;           // pairs of K; K rounded up to whole 2L-element vectors (a bf16 row)
    int64_t rangeBlocks = 0, chunk = 0;  // A's blocks per range; columns per run

    Paired() = default;
    Paired(int64_t rows_, int64_t K_, int64_t columns_) : rows(rows_), K(K_), columns(columns_) {
        pairs       = (K + 1) / 2;
        Kp          = (K + 2 * L - 1) / (2 * L) * (2 * L);
        rangeBlocks = std::clamp<int64_t>(kRowBudget / (R * Kp * int64_t(sizeof(uint16_t))), 1, blocks());
        const int64_t run = std::max<int64_t>(V * L, kPlaneBudget / (pairs * int64_t(sizeof(uint32_t))) / (V * L) * (V * L));
        chunk = std::min<int64_t>(run, (columns + V * L - 1) / (V * L) * (V * L));
    }
    int64_t blocks() const { return (rows + R - 1) / R; }
    bool    oneRange() const { return rangeBlocks >= blocks(); }
    size_t  rowBytes() const { return aligned(size_t(rangeBlocks) * R * Kp * sizeof(uint16_t)); }
    size_t  planeBytes() const { return aligned(size_t(pairs) * chunk * sizeof(uint32_t)); }
    size_t  bytes() const { return rowBytes() + planeBytes() + kAlign; }  // shared by the op's threads
};

// Rounds A's blocks [r0, r1) into `dst` (R rows of Kp a block; rows past `rows` repeat the last, their sums
// are not stored) through row(r) (A's row r: data and type), the threads sharing the blocks; then a barrier.
template <class Row>
void round_rows(const ggml_compute_params* params, const Paired& p, int64_t r0, int64_t r1, Row&& row, uint16_t* dst) {
    for (int64_t blk = r0 + params->ith; blk < r1; blk += params->nth) {
        for (int r = 0; r < R; ++r) {
            const int64_t at = std::min(p.rows - 1, blk * R + r);
            const auto [data, type] = row(at);
            round_row(data, type, p.K, p.Kp, dst + ((blk - r0) * R + r) * p.Kp);
        }
    }
    ggml_barrier(params->threadpool);
}

// The product for columns [p0, p0 + cols) of X, whose pair planes are in `planes` (`ld` lanes apart):
// out[r * ldc + p]. `rounded`: all of A's rows already are in `rowsBuf` (one range); otherwise each range is
// rounded here. Ends with a barrier, so the planes and rows may be refilled.
template <class Row>
void paired_product(const ggml_compute_params* params, const Paired& p, uint16_t* rowsBuf, bool rounded, Row&& row, const uint32_t* planes,
                    int64_t ld, int64_t p0, int64_t cols, float* out, int64_t ldc) {
    const int64_t blocks = p.blocks(), rowPairs = p.Kp / 2, tiles = (cols + V * L - 1) / (V * L);
    // a slice of pairs whose rows for the range (in L2) and for one block (in L1) stay cached
    const int64_t perSlice = std::max<int64_t>(8, std::min<int64_t>({(24 << 10) / (R * 4), (1 << 20) / (p.rangeBlocks * R * 4), p.pairs}));
    for (int64_t r0 = 0; r0 < blocks; r0 += p.rangeBlocks) {
        const int64_t r1 = std::min(blocks, r0 + p.rangeBlocks);
        if (!rounded) round_rows(params, p, r0, r1, row, rowsBuf);
        sweep(tiles, r0, r1, p.pairs, perSlice, [&](int64_t i, Tile& t) { gemm_tile(i, cols, p0, t); },
              [&](int64_t blk, int64_t d0, int64_t depth, const Tile& tile, bool accumulate) {
                  const int64_t first = blk * R;
                  block_bf16(reinterpret_cast<const uint32_t*>(rowsBuf + (blk - r0) * R * p.Kp) + d0, rowPairs, 1, planes + d0 * ld, ld, depth, tile,
                             out + first * ldc, ldc, std::min<int64_t>(R, p.rows - first), accumulate);
              },
              params->ith, params->nth);
        ggml_barrier(params->threadpool);  // before the next range's rows or the next run's planes
    }
}

#endif  // DIFFUSEKIT_CPU_BF16

}  // namespace diffusekit_cpu

#endif  // DIFFUSEKIT_CPU_VECTOR
