# MAC count of the SD 1.5 UNet by op class (batch-independent fractions), latent R x R.
import sys
def unet(R):
    c = {"conv3x3/1x1 (resnet, up/down, in/out)": 0, "proj_in/proj_out 1x1 conv": 0,
         "linear (q,k,v,out, cross k/v, GEGLU ff)": 0, "attention QK^T + AV": 0}
    def conv(cin, cout, P, k=3): c["conv3x3/1x1 (resnet, up/down, in/out)"] += k*k*cin*cout*P
    def res(cin, cout, P):
        conv(cin, cout, P); conv(cout, cout, P)
        if cin != cout: conv(cin, cout, P, 1)
    def st(C, P, Lc=77, Dc=768):
        c["proj_in/proj_out 1x1 conv"] += 2*C*C*P
        c["linear (q,k,v,out, cross k/v, GEGLU ff)"] += 4*C*C*P + 2*C*C*P + 2*Lc*Dc*C + 8*C*C*P + 4*C*C*P
        c["attention QK^T + AV"] += 2*P*P*C + 2*P*Lc*C
    P = [R*R, (R//2)**2, (R//4)**2, (R//8)**2]
    ch = [320, 640, 1280, 1280]
    conv(4, 320, P[0])
    skips = [320]; cur = 320
    for lvl in range(4):
        for i in range(2):
            res(cur, ch[lvl], P[lvl]); cur = ch[lvl]
            if lvl < 3: st(cur, P[lvl])
            skips.append(cur)
        if lvl < 3:
            conv(cur, cur, P[lvl+1]); skips.append(cur)   # stride-2 downsample conv: output res
    res(cur, cur, P[3]); st(cur, P[3]); res(cur, cur, P[3])
    for lvl in reversed(range(4)):
        for i in range(3):
            s = skips.pop(); res(cur + s, ch[lvl], P[lvl]); cur = ch[lvl]
            if lvl < 3: st(cur, P[lvl])
        if lvl > 0: conv(cur, cur, P[lvl-1])            # upsample conv at the higher res
    conv(320, 4, P[0])
    return c
for R in (32, 64):
    c = unet(R); tot = sum(c.values())
    print(f"latent {R}x{R} ({R*8}px): total {2*tot/1e9:.0f} GFLOP per UNet eval (batch 1)")
    for k, v in c.items(): print(f"   {k:45s} {100*v/tot:5.1f}%")
