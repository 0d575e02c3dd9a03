#!/usr/bin/env bash
# Runs the measured pieces; results in bench-results.txt (RESULT lines are the table rows).
cd "$(dirname "$0")"
{
  uptime
  for p in xf_fa_sd xf_mm_sd xf_fa_ovpat xf_fa_ovpat_nomask micro_ff_geglu micro_linear_bias conv_im2col conv_direct conv_im2col_f32; do
    ./bench -s 32 -r 7 -t 2 -p $p
  done
  uptime
  for p in xf_fa_sd xf_mm_sd xf_fa_ovpat micro_ff_geglu micro_linear_bias conv_im2col conv_direct conv_im2col_f32; do
    ./bench -s 64 -r 5 -t 2 -p $p
  done
  uptime
} > bench-results.txt 2>&1
grep '^RESULT ' bench-results.txt
