"""LF-Diff in PyTorch, written from the paper independently of the TypeScript,
with the same parameter names, so one safetensors checkpoint loads into both. Used by
tests/make_model_goldens.py (golden fixtures) and tools/bench_infer_torch.py (timing).
Optional: nothing in lfdiff's tests or tools needs Python."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv(i, o, k, bias=True, groups=1, stride=1):
    return nn.Conv2d(i, o, k, stride=stride, padding=k // 2, groups=groups, bias=bias)


def up(x, k):
    return F.interpolate(x, scale_factor=k, mode="bilinear", align_corners=False)


class LayerNorm2d(nn.Module):  # Restormer WithBias / BiasFree, across channels
    def __init__(self, c, bias=True):
        super().__init__()
        self.weight = nn.Parameter(1 + 0.1 * torch.randn(c))
        self.bias = nn.Parameter(0.1 * torch.randn(c)) if bias else None

    def forward(self, x):
        mu = x.mean(1, keepdim=True)
        var = x.var(1, keepdim=True, unbiased=False)
        w = self.weight.view(1, -1, 1, 1)
        if self.bias is None:
            return x / torch.sqrt(var + 1e-5) * w
        return (x - mu) / torch.sqrt(var + 1e-5) * w + self.bias.view(1, -1, 1, 1)


class ResidualBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.conv2 = conv(c, c, 3), conv(c, c, 3)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x)))


class Alignment(nn.Module):
    def __init__(self, cin, c, slope):
        super().__init__()
        self.slope = slope
        self.conv = conv(cin, c, 3)
        self.att1 = nn.ModuleList([conv(2 * c, 2 * c, 3), conv(2 * c, c, 3)])
        self.att3 = nn.ModuleList([conv(2 * c, 2 * c, 3), conv(2 * c, c, 3)])
        self.fuse = conv(3 * c, c, 3)

    def forward(self, x1, x2, x3, with_reference=False):
        f1, f2, f3 = [F.leaky_relu(self.conv(x), self.slope) for x in (x1, x2, x3)]
        a = lambda att, fi: fi * torch.sigmoid(att[1](F.leaky_relu(att[0](torch.cat([fi, f2], 1)), self.slope)))  # noqa
        out = self.fuse(torch.cat([a(self.att1, f1), f2, a(self.att3, f3)], 1))
        return (out, f2) if with_reference else out


class MDTA(nn.Module):
    def __init__(self, c, heads):
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(1 + 0.2 * torch.randn(heads, 1, 1))
        self.qkv = conv(c, 3 * c, 1, bias=False)
        self.qkvDw = conv(3 * c, 3 * c, 3, bias=False, groups=3 * c)
        self.projectOut = conv(c, c, 1, bias=False)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkvDw(self.qkv(x)).chunk(3, dim=1)
        q, k, v = [t.reshape(b, self.heads, c // self.heads, h * w) for t in (q, k, v)]
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)
        return self.projectOut((attn @ v).reshape(b, c, h, w))


class GDFN(nn.Module):
    def __init__(self, c, e):
        super().__init__()
        hid = int(c * e)
        self.projectIn = conv(c, 2 * hid, 1, bias=False)
        self.dwconv = conv(2 * hid, 2 * hid, 3, bias=False, groups=2 * hid)
        self.projectOut = conv(hid, c, 1, bias=False)

    def forward(self, x):
        x1, x2 = self.dwconv(self.projectIn(x)).chunk(2, dim=1)
        return self.projectOut(F.gelu(x1) * x2)


class TransformerBlock(nn.Module):
    def __init__(self, c, heads, e):
        super().__init__()
        self.norm1, self.attn, self.norm2, self.ffn = LayerNorm2d(c), MDTA(c, heads), LayerNorm2d(c), GDFN(c, e)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class ChannelAttention(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        m = max(1, c // r)
        self.squeeze, self.excite = conv(c, m, 1), conv(m, c, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.excite(F.relu(self.squeeze(x.mean((2, 3), keepdim=True)))))


class Split(nn.Module):
    def __init__(self, c, pool):
        super().__init__()
        self.pool = pool
        self.rb, self.rbHigh = ResidualBlock(c["channels"]), ResidualBlock(c["channels"])
        self.fuse = conv(2 * c["channels"], c["channels"], 1)
        self.ca = ChannelAttention(c["channels"], c["caReduction"])

    def split(self, x, low):
        f = self.rb(x)
        fl = F.avg_pool2d(f, self.pool)
        fh = f - up(fl, self.pool)
        return self.ca(self.fuse(torch.cat([self.rbHigh(fh), up(low(fl), self.pool)], 1))) + x


class FRM(Split):
    def __init__(self, c):
        super().__init__(c, c["frmPool"])
        self.sa = TransformerBlock(c["channels"], c["heads"], c["ffnExpansion"])

    def forward(self, x):
        return self.split(x, self.sa)


class PriorCrossAttention(nn.Module):
    def __init__(self, c, n, cfg=None):
        super().__init__()
        cfg = cfg or {}
        self.normalize = cfg.get("pimNormalize", True)
        self.softmax_over = cfg.get("pimSoftmax", "prior")
        self.temperature = nn.Parameter(1 + 0.2 * torch.randn(1, 1, 1))
        self.q, self.qDw = conv(c, c, 1, bias=False), conv(c, c, 3, bias=False, groups=c)
        self.kv, self.kvDw = conv(n, 2 * n, 1, bias=False), conv(2 * n, 2 * n, 3, bias=False, groups=2 * n)
        self.projectOut = conv(c, c, 1, bias=False)
        block = cfg.get("pimBlock", "attention") == "transformer"  # HI-Diff's LN / attention / LN / GDFN
        self.norm1 = LayerNorm2d(c) if block else None
        self.norm2 = LayerNorm2d(c) if block else None
        self.ffn = GDFN(c, cfg.get("ffnExpansion", 2.66)) if block else None

    def attend(self, f, z):
        b, c, h, w = f.shape
        n = z.shape[1]
        q = self.qDw(self.q(f)).reshape(b, 1, c, h * w)
        k, v = self.kvDw(self.kv(z)).chunk(2, dim=1)
        k, v = k.reshape(b, 1, n, h * w), v.reshape(b, 1, n, h * w)
        if self.normalize:
            q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        if self.softmax_over == "prior":
            attn = (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)  # [b,1,C,N]
        else:
            attn = (k @ q.transpose(-2, -1) * self.temperature).softmax(dim=-1).transpose(-2, -1)  # [N,C] over C
        return self.projectOut((attn @ v).reshape(b, c, h, w))

    def forward(self, f, z):
        if self.ffn is None:
            return self.attend(f, z) + f
        y = self.attend(self.norm1(f), z) + f
        return y + self.ffn(self.norm2(y))


class PIM(Split):
    def __init__(self, c):
        super().__init__(c, c["pimPool"])
        self.cross = PriorCrossAttention(c["channels"], c["priorChannels"], c)

    def forward(self, x, z):
        return self.split(x, lambda low: self.cross(low, z))


class ReconstructionBlock(nn.Module):
    def __init__(self, c, n):
        super().__init__()
        self.pim = PIM(c)
        self.frms = nn.ModuleList([FRM(c) for _ in range(n)])

    def forward(self, x, z):
        y = self.pim(x, z)
        for f in self.frms:
            y = f(y)
        return y + x


class BaselineBlock(nn.Module):  # Table 3's baseline: an FRM where the PIM was
    def __init__(self, c, n):
        super().__init__()
        self.frms = nn.ModuleList([FRM(c) for _ in range(n + 1)])

    def forward(self, x, z):
        y = x
        for f in self.frms:
            y = f(y)
        return y + x


class DHRNet(nn.Module):
    def __init__(self, c, prior):
        super().__init__()
        self.blocks = nn.ModuleList([(ReconstructionBlock if prior else BaselineBlock)(c, n) for n in c["blocks"]])
        self.convAfter, self.convLast = conv(c["channels"], c["channels"], 3), conv(c["channels"], 3, 3)

    def forward(self, f0, z, skip=None):
        y = f0
        for b in self.blocks:
            y = b(y, z)
        return torch.sigmoid(self.convLast(self.convAfter(y) + (f0 if skip is None else skip)))


class LPENet(nn.Module):
    def __init__(self, cin, c):
        super().__init__()
        self.head = conv(cin, c["lpeChannels"], 3)
        self.blocks = nn.ModuleList([ResidualBlock(c["lpeChannels"]) for _ in range(c["lpeBlocks"])])
        self.tail = conv(c["lpeChannels"], c["priorChannels"], 3)

    def forward(self, x):
        y = self.head(x)
        for b in self.blocks:
            y = b(y)
        return self.tail(y)


class GtPriorNet(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.k = c["unshuffle"]
        self.lpe = LPENet(6 * self.k ** 2, c)

    def forward(self, gt):
        t = torch.log(1 + 5000 * gt) / math.log(5001)
        return self.lpe(F.pixel_unshuffle(torch.cat([gt, t], 1), self.k))


class LPENetDM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.k = c["unshuffle"]
        self.align = Alignment(6 * self.k ** 2, c["channels"], c["leakySlope"])
        self.lpe = LPENet(c["channels"], c)

    def forward(self, x1, x2, x3):
        return self.lpe(self.align(*[F.pixel_unshuffle(x, self.k) for x in (x1, x2, x3)]))


def silu(x):
    return x * torch.sigmoid(x)


def temb(ts, dim, device=None):
    half = dim // 2
    f = torch.exp(-math.log(10000) * torch.arange(half, device=device) / half)
    a = torch.tensor(ts, dtype=torch.get_default_dtype(), device=device)[:, None] * f[None]
    return torch.cat([torch.sin(a), torch.cos(a)], 1)


class UResBlock(nn.Module):
    def __init__(self, cin, cout, emb):
        super().__init__()
        self.norm1, self.conv1 = LayerNorm2d(cin), conv(cin, cout, 3)
        self.temb = nn.Linear(emb, cout)
        self.norm2, self.conv2 = LayerNorm2d(cout), conv(cout, cout, 3)
        self.skip = None if cin == cout else conv(cin, cout, 1)

    def forward(self, x, e):
        h = self.conv1(silu(self.norm1(x))) + self.temb(silu(e))[:, :, None, None]
        h = self.conv2(silu(self.norm2(h)))
        return h + (x if self.skip is None else self.skip(x))


class Level(nn.Module):
    def __init__(self, blocks, resample):
        super().__init__()
        self.blocks, self.resample = nn.ModuleList(blocks), resample


class Denoiser(nn.Module):
    def __init__(self, c):
        super().__init__()
        ch, nb = c["unetChannels"], c["unetBlocks"]
        self.base, emb, L = ch[0], 4 * ch[0], len(ch)
        self.timeIn, self.timeOut = nn.Linear(ch[0], emb), nn.Linear(emb, emb)
        self.head = conv(2 * c["priorChannels"], ch[0], 3)
        self.enc = nn.ModuleList([Level([UResBlock(ch[max(l - 1, 0)] if i == 0 else ch[l], ch[l], emb)
                                         for i in range(nb[l])],
                                        conv(ch[l], ch[l], 3, stride=2) if l < L - 1 else None) for l in range(L)])
        self.dec = nn.ModuleList([Level([UResBlock(2 * ch[l] if i == 0 else ch[l], ch[l], emb) for i in range(nb[l])],
                                        conv(ch[l + 1], ch[l], 3) if l < L - 1 else None) for l in range(L)])
        self.tailNorm, self.tail = LayerNorm2d(ch[0]), conv(ch[0], c["priorChannels"], 3)

    def forward(self, zt, d, ts):
        e = self.timeOut(silu(self.timeIn(temb(ts, self.base, zt.device))))
        h = self.head(torch.cat([zt, d], 1))
        skips = []
        for lv in self.enc:
            for b in lv.blocks:
                h = b(h, e)
            skips.append(h)
            if lv.resample is not None:
                h = lv.resample(h)
        for l in reversed(range(len(self.dec))):
            lv = self.dec[l]
            if lv.resample is not None:
                h = lv.resample(F.interpolate(h, scale_factor=2, mode="nearest"))
            h = torch.cat([h, skips[l]], 1)
            for b in lv.blocks:
                h = b(h, e)
        return self.tail(silu(self.tailNorm(h)))


def alpha_bar(c):
    T = c["timesteps"]
    betas = [c["betaStart"] + (c["betaEnd"] - c["betaStart"]) * t / (T - 1) for t in range(T)]
    out, ab = [], 1.0
    for b in betas:
        ab *= 1 - b
        out.append(ab)
    return out


class LFDiff(nn.Module):
    """The full (s2) model; its forward takes the starting noise zT."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.align = Alignment(6, c["channels"], c["leakySlope"])
        self.dhr = DHRNet(c, True)
        self.lpeDm, self.denoiser = LPENetDM(c), Denoiser(c)

    def forward(self, x1, x2, x3, zT):
        d = self.lpeDm(x1, x2, x3)
        ab, T, S = alpha_bar(self.c), self.c["timesteps"], self.c["samplingSteps"]
        ts = [math.floor((S - 1 - i) * T / S) for i in range(S)]
        z = zT
        for i, t in enumerate(ts):
            eps = self.denoiser(z, d, [t] * z.shape[0])
            abp = ab[ts[i + 1]] if i + 1 < S else 1.0
            x0 = (z - math.sqrt(1 - ab[t]) * eps) / math.sqrt(ab[t])
            z = math.sqrt(abp) * x0 + math.sqrt(1 - abp) * eps
        f0, f2 = self.align(x1, x2, x3, with_reference=True)
        return self.dhr(f0, z, f2 if self.c.get("globalSkip") == "reference" else None)




class Vgg19Features(nn.Module):
    """torchvision's vgg19.features up to conv5_4's ReLU (same indices), ImageNet-normalised
    input; `width_div` narrows the convs for small test fixtures."""

    def __init__(self, width_div=1):
        super().__init__()
        plan = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512]
        layers, cin = [], 3
        for l in plan:
            if l == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, l // width_div, 3, padding=1), nn.ReLU()]
                cin = l // width_div
        self.features = nn.Sequential(*layers)

    def forward(self, x):
        mean = torch.tensor([0.485, 0.456, 0.406], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return self.features((x - mean) / std)
