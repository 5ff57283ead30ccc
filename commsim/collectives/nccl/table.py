"""NCCL's constants, in one table, each with the NCCL source it comes from.

All from NVIDIA/nccl 2.30.7-1 (tag v2.30.7-1; the files cited are identical at commit 5067397c). Units as
NCCL's: latencies in µs, bandwidths in GB/s (1e9 bytes/s). Protocol order LL, LL128, Simple; algorithm
order as NCCL's (Tree, Ring). Older releases differ (e.g. Ring LL was busBw/4 before 2.21, Ring
nInterSteps 2·nNodes before 2.23, SM90_NVLINK_BW 20.0 in 2.18): the model is of 2.30.
"""

from __future__ import annotations

NCCL_VERSION = "2.30.7-1"
PROTOCOLS = ("ll", "ll128", "simple")
ALGORITHMS = ("tree", "ring")
ARCHS = ("sm70", "sm80", "sm90", "sm100")  # NCCL's compCapIndex rows: Volta, Ampere, Hopper, Blackwell

# src/graph/tuning.cc:150-154, ncclTunerConstantsDefaults.baseLatencies [algorithm][protocol]
BASE_LATENCY_US = {"tree": (6.8, 14.0, 8.4), "ring": (6.6, 14.0, 8.4), "pat": (8.0, 8.0, 8.0)}

# src/graph/tuning.cc:157-176, hwLatencies [NVLINK | PCI | NET][algorithm][protocol]
HW_LATENCY_US = {
    "nvlink": {"tree": (0.6, 1.25, 4.0), "ring": (0.6, 1.9, 3.4)},
    "pci": {"tree": (1.0, 1.9, 4.0), "ring": (1.0, 2.5, 5.7)},
    "net": {"tree": (5.0, 8.5, 14.0), "ring": (2.7, 4.0, 14.0)},
}

# src/graph/tuning.cc:178-211, [compCapIndex][N1, N2, N4+]; llMaxBws rows on several nodes are by CPU
# vendor instead (row 0 Intel/other, row 1 AMD; tuning.cc:273-276)
LL_MAX_BW = {"sm70": (39.0, 39.0, 20.4), "sm80": (87.7, 22.5, 19.0), "sm90": (141.0, 45.0, 35.0),
             "sm100": (282.0, 90.0, 70.0)}
# equivalent: (more repeats of a row) only the three columns are read
PER_CHANNEL_MAX_RING_LL128_BW = {"sm70": (20.0,) * 3, "sm80": (20.0,) * 3, "sm90": (36.7,) * 3, "sm100": (40.0,) * 3}
PER_CHANNEL_MAX_TREE_LL128_BW = {"sm70": (20.0,) * 3, "sm80": (20.0,) * 3, "sm90": (36.7, 36.7, 29.0),  # equivalent: as above
                                 "sm100": (55.6, 31.67, 20.0)}
PER_CHANNEL_MAX_TREE_BW = {"sm70": (26.5, 18.5, 10.0), "sm80": (24.0, 23.6, 17.8), "sm90": (38.7, 41.4, 36.0),
                           "sm100": (70.0, 42.8, 24.0)}

# src/graph/tuning.cc:327-337: ring LL busBw × 0.5, ring LL128 × 0.92 (the code's figure; an LL128 line
# carries 120 of 128 bytes), tree all-reduce × 0.92, tree LL ÷ 3.8, tree LL128 × 7/9 (one node) or 120/128
RING_LL_FACTOR = 0.5
RING_LL128_FACTOR = 0.92
TREE_FACTOR = 0.92
TREE_LL_DIVISOR = 3.8
TREE_LL128_FACTOR_ONE_NODE = 7.0 / 9.0
TREE_LL128_FACTOR_NODES = 120.0 / 128.0

# src/graph/tuning.cc:229-235 getNetOverhead: µs per inter-node step, Intel/other 1.0, AMD 2.0; ×3 for Simple
NET_OVERHEAD_US = {"intel": 1.0, "amd": 2.0}
NET_OVERHEAD_SIMPLE_FACTOR = 3.0

# src/graph/tuning.cc:623-628 treeCorrectionFactor [protocol][floor(log2(bytes / 64))]
TREE_CORRECTION = (
    (1.0, 1.0, 1.0, 1.0, .9, .8, .7, .7, .7, .7, .6, .5, .4, .4, .5, .6, .7, .8, .9, 1.0, 1.0, 1.0, 1.0, 1.0),
    (1.0, 1.0, 1.0, 1.0, 1.0, .9, .8, .8, .8, .7, .6, .6, .6, .6, .6, .6, .8, .9, .9, .9, .9, 1.0, 1.0, 1.0),
    (.9, .9, .9, .9, .9, .9, .9, .8, .7, .6, .6, .5, .5, .5, .5, .6, .7, .8, .7, .7, .8, .9, .9, .9),
)
TREE_CORRECTION_SIZES = 23  # tuning.cc:640: tree all-reduce uses indices 0..22
NVLS_TREE_CORRECTION_SIZES = 24  # tuning.cc:643: NVLS-tree all-reduce (Blackwell, x86) uses indices 0..23
# src/graph/tuning.cc:647-650: ring Simple all-reduce on several nodes, bytes/(comm channels·ranks) ≥ 64:
# latency × 1.4 (× 1.9 below sm80), "plateau effect of ring"
RING_PLATEAU_FACTOR = {"sm70": 1.9, "sm80": 1.4, "sm90": 1.4, "sm100": 1.4}
RING_PLATEAU_MIN_BYTES = 64

# src/graph/topo.h:20-25 SMxx_NVLINK_BW: GB/s per NVLink link per direction as NCCL counts it
NVLINK_BW_PER_LINK = {"sm70": 20.0, "sm80": 20.0, "sm90": 20.6, "sm100": 40.1}
# The spec rate of one NVLink link per direction (NVLink 2-4: 50 GB/s bidirectional per link; NVLink 5:
# 100 GB/s), to count a GPU's links from its NVLink bandwidth. NVIDIA NVLink pages (see network/cluster.py).
NVLINK_SPEC_PER_LINK = {"sm70": 25e9, "sm80": 25e9, "sm90": 25e9, "sm100": 50e9}
# src/graph/topo.cc:545-556 kvDictPciGen: per lane, in 100 Mbit/s, 120 at 16 GT/s and 240 at 32 GT/s, and
# bw = width·speed/80 GB/s: NCCL counts 3/4 of the raw signalling rate (Gen4 x16: 24 GB/s, Gen5 x16: 48)
PCI_FRACTION_OF_RAW = 0.75

# src/graph/search.cc:1051-1067, the channel speeds the ring search tries, fastest first (GB/s)
SPEEDS_INTRA = {
    "sm70": (40.0, 30.0, 20.0, 18.0, 15.0, 12.0, 10.0, 9.0, 7.0, 6.0, 5.0, 4.0, 3.0),
    "sm80": (40.0, 30.0, 20.0, 18.0, 15.0, 12.0, 10.0, 9.0, 7.0, 6.0, 5.0, 4.0, 3.0),
    "sm90": (60.0, 50.0, 40.0, 30.0, 24.0, 20.0, 15.0, 12.0, 11.0, 6.0, 3.0),
    "sm100": (90.0, 80.0, 70.0, 60.0, 50.0, 45.0, 40.0, 30.0, 24.0, 20.0, 19.0, 18.0),
}
SPEEDS_INTER = {
    "sm70": (48.0, 30.0, 28.0, 24.0, 20.0, 18.0, 15.0, 12.0, 10.0, 9.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.4, 1.2, 0.24, 0.12),
    "sm80": (48.0, 30.0, 28.0, 24.0, 20.0, 18.0, 15.0, 12.0, 10.0, 9.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.4, 1.2, 0.24, 0.12),
    "sm90": (48.0, 45.0, 42.0, 40.0, 30.0, 24.0, 22.0, 20.0, 17.5, 15.0, 12.0, 6.0, 3.0, 2.4, 1.2, 0.24, 0.12),
    "sm100": (96.0, 86.0, 80.0, 48.0, 45.1, 42.0, 40.0, 30.0, 24.0, 22.0, 20.0, 17.5, 15.0, 12.0, 6.0, 3.0, 2.4,
              1.2, 0.24, 0.12),
}
SEARCH_MAX_CHANNELS = 32  # init.cc:1177: MAXCHANNELS / 2
MAX_CHANNELS = 64  # device.h:91 MAXCHANNELS (equivalent: never reached from 2 × SEARCH_MAX_CHANNELS)
SEARCH_NEXT_SPEED_RATIO = 0.49  # search.cc: a slower speed is tried while it is > .49 of the best's
FALLBACK_SPEED = 0.1  # search.cc:1289-1310: no speed fits (a NIC under 0.12 GB/s): one channel of 0.1 GB/s
# search.cc:1036-1049 ncclTopoDupChannels: no duplication below 25 GB/s, nor on sm90+ below 50 GB/s with
# more than 4 channels; otherwise channels doubled (≤ 32) and the speed halved
DUP_MIN_SPEED = 25.0
DUP_MIN_SPEED_SM90 = 50.0
DUP_MAX_CHANNELS_SM90 = 4
# connect.cc:480-483: on sm90+ across nodes, channels of more than 45 GB/s and fewer than 16 run channels
# are doubled once more
MORE_CHANNELS_ABOVE = 45.0
MORE_CHANNELS_BELOW = 16

# src/include/device.h:26, init.cc:810-813: NCCL_STEPS slots of a channel's buffer, buffers per protocol
# (bytes); the protocols' line formats are in nccl_ring.wire_bytes (device.h:75-111)
NCCL_STEPS = 8
BUFFER_BYTES = {"ll": 8 * 512 * 8 * 16, "ll128": 120 * 640 * 8 * 8, "simple": 1 << 22}
# src/enqueue.cc:2222-2227 calcCollChunking: a chunk is chunkSteps steps of the protocol's buffer (chunkSteps
# only on ring Simple, 1 otherwise), of which LL carries half (a flag with each data word) and LL128 15 of
# every 16 words; src/include/device.h:328-333 grains (16, 1920, 512 B) divide each, so aligning changes nothing
STEP_DATA_BYTES = {"ll": BUFFER_BYTES["ll"] // NCCL_STEPS // 2, "ll128": BUFFER_BYTES["ll128"] // NCCL_STEPS // 16 * 15,
                   "simple": BUFFER_BYTES["simple"] // NCCL_STEPS}
# src/include/collectives.h:27-28, 33-34: BROADCAST_CHUNKSTEPS and REDUCE_CHUNKSTEPS are 1: their ring pipeline
# moves one step (STEP_DATA_BYTES) per chunk (src/device/broadcast.h:40-54, reduce.h:34-51)
PIPELINE_CHUNKSTEPS = 1

# Collectives other than all-reduce (src/graph/tuning.cc:289-298): nsteps n − 1 for reduce-scatter and
# all-gather, n for broadcast and reduce; broadcast and reduce are rated on the ring only, reduce-scatter and
# all-gather on the ring, PAT, NVLS and CollNet (no tree for any of them)
# PAT (tuning.cc:215-223 ncclPatEnable: one GPU per node; tuning.cc:302-304: Simple only): base latency 8 µs
# (BASE_LATENCY_US), bus bandwidth × 0.75 (tuning.cc:337) on the tree's graph (init.cc:980-981) with no algBw
# ratio (tuning.cc:377-382), latency + log2(nodes)·interLat/3.5 + n·2.8 µs (tuning.cc:429-433)
PAT_BANDWIDTH_FACTOR = 0.75
PAT_INTER_DIVISOR = 3.5
PAT_PER_RANK_US = 2.8

# Point-to-point (all-to-all as grouped sends and receives; src/enqueue.cc:3070-3078 turns ncclAlltoAll into
# exactly those). No tuning table: NCCL predicts no time for them.
# src/enqueue.cc:859 NCCL_P2P_LL_THRESHOLD: a send of at most parts × 16 KiB goes as LL (enqueue.cc:932), else Simple
P2P_LL_THRESHOLD = 16384
# src/init.cc:818-843 p2pChunkSize: 128 KiB across nodes (× 2 on ARM Blackwell hosts, not modelled) or over
# PCIe, 512 KiB on an all-NVLink node, at most a Simple step
P2P_NET_CHUNK = 1 << 17
P2P_PCI_CHUNK = 1 << 17
P2P_NVL_CHUNK = 1 << 19  # equivalent: a larger one is capped at a Simple step, 512 KiB (model.p2p_channels)
# src/enqueue.cc:919-920: a part is at least chunk/2 (chunk/8 on one node), at most chunk (32 chunks on one node)
P2P_MIN_PART_DIVISOR = {"nodes": 2, "node": 8}
P2P_MAX_PART_CHUNKS = {"nodes": 1, "node": 32}
# src/include/device.h:260-270 ncclP2pPartBounds: parts of ⌈bytes/parts⌉ rounded up to 4 KiB, the last shorter
P2P_PART_ALIGN = 4 << 10
# src/graph/paths.cc:918-953 ncclTopoGetNchannels: channels per peer, 2 × NVLink links inside an NVLink node, 2
# over PCIe, across nodes max(local NICs, ⌈NIC GB/s / 14⌉)
P2P_PER_CHANNEL_NET_BW = 14
P2P_CHANNELS_PER_LINK = 2
P2P_PCI_CHANNELS = 2
# src/include/device.h:391: p2p operations one channel runs at once, which bounds channels per peer across nodes
# (paths.cc:993-1001)
P2P_PER_BATCH = 8

# NVLS (NVLink SHARP: multicast and in-switch reduction through the NVSwitch) and NVLS-tree (NVLS inside each node,
# a tree between nodes). src/graph/tuning.cc:139-144 nvlsEfficiency (no NVLS before Hopper)
NVLS_EFFICIENCY = {"sm70": 0.0, "sm80": 0.0, "sm90": 0.85, "sm100": 0.74}
# tuning.cc:153: baseLatencies of NVLS and NVLS-tree are 0; tuning.cc:161, 173: hwLatencies, Simple only (µs)
NVLS_HW_LATENCY_US = {"nvlink": {"nvls": 25.0, "nvls_tree": 25.0}, "net": {"nvls": 18.0, "nvls_tree": 20.9}}
# tuning.cc:205-211 perChMaxNVLSTreeBws [compCapIndex][N1, N2, N4+] (GB/s per channel)
PER_CHANNEL_MAX_NVLS_TREE_BW = {"sm70": (26.5, 18.5, 10.0), "sm80": (24.0, 23.6, 17.8), "sm90": (0.0, 57.7, 45.5),
                                "sm100": (0.0, 96.0, 80.0)}
NVLS_MIN_ARCH = "sm90"  # search.cc:1124: no NVLS graph without an NVSwitch or below sm90
NVLS_MAX_ARITY = 32  # device.h:213 NCCL_MAX_NVLS_ARITY: the NVLS graph's channels (search.cc:1127); RS/AG ≤ 32 ranks
NVLS_MIN_GRAPH_CHANNELS = 2  # tuning.cc:308-309: NVLS/NVLS-tree need at least 2 (search) channels
# src/transport/nvls.cc:155-157, 209-214: the CTAs (compute channels) NVLS runs on: 16 on Hopper, 24 on one Blackwell
# node, 32 on several (nvls.cc:164-200 retunes several Blackwell nodes; only NVLS-tree runs there, not simulated)
NVLS_CHANNELS = {"sm90": 16, "sm100": 24}
NVLS_CHANNELS_SM100_NODES = 32
# nvls.cc:160 NCCL_NVLS_CHUNKSIZE default 128 KiB; enqueue.cc:2262-2274: the chunk falls to 64 KiB below
# 64 × heads × chunk bytes on the channel, 32 KiB below 8 ×, 16 KiB below 2 × (Simple grain 512 B, device.h:328-333)
NVLS_CHUNK_BYTES = 128 << 10
NVLS_CHUNK_STEPS = ((64, 65536), (8, 32768), (2, 16384))
# src/device/all_reduce.h:416: the last, partial loop's chunk is ⌈rest/heads⌉ rounded up to 16 KiB
NVLS_LAST_CHUNK_ALIGN = 16384
SIMPLE_GRAIN = 512  # device.h:328-333 ncclProtoGrainSize(Simple)
LL128_GRAIN = 1920  # device.h:328-333: 32 threads × 8 shmem elements / 16 line elements × 15 data elements × 8 B

# The tree's LL128 chunk (enqueue.cc:2286-2294): from one step's data (576,000 B), halved while the channel's bytes /
# chunk < (1 + log2i(nodes) + 0.1·ppn)·64/ppn and the chunk > 128 KiB, then while < ·16/ppn and > 32 KiB; then
# aligned down to the LL128 grain (enqueue.cc:2321)
TREE_LL128_STEPS_BASE = 1.0
TREE_LL128_STEPS_PER_PPN = 0.1
TREE_LL128_CHUNK_RULES = ((64, 131072), (16, 32768))

# tuning.cc:336: tree bus bandwidth × 0.85 when the tree graph's pattern is NCCL_TOPO_PATTERN_TREE (every NIC's traffic
# through one GPU); search.cc:1133 makes it so with one GPU per node (otherwise BALANCED_TREE, init.cc:1183)
TREE_PATTERN_FACTOR = 0.85

# Channels and threads for small messages (enqueue.cc:2070-2116 topoGetAlgoInfo): from the communicator's channels,
# one less while bytes < channels × threads × threshold (down to 1), then threads halved while that holds and they are a
# multiple of 128. Thresholds (src/include/comm.h:49-51; tuning.cc:589-593): LL 8 (ring: × ranks), LL128 8, Simple 64.
THREAD_THRESHOLD = {"ll": 8, "ll128": 8, "simple": 64}
# Max threads (tuning.cc:244-256, device.h:93-114): ring Simple 512 (256 if channels × speed ≤ PCI_BW 12 GB/s,
# topo.h:25), tree Simple 512, LL 512, LL128 640, NVLS 640
MAX_THREADS = {"ll": 512, "ll128": 640, "simple": 512}
NVLS_THREADS = 640
RING_SIMPLE_FEW_THREADS = 256
PCI_BW = 12.0
WARP_SIZE = 32
# enqueue.cc:2107-2114: ring Simple + 1 warp, tree Simple + 4 warps, at least 3 warps; tree and PAT all 640 (NCCL_MAX_NTHREADS)
MAX_NTHREADS = 640
# enqueue.cc:585-720 scheduleCollTasksToPlan: a call's bytes go to channels in cells of ⌈32 KiB / traffic per byte⌉
# (to 16 B) — traffic per byte 2 for all-reduce, n for reduce-scatter and all-gather, 1 otherwise, × 4 for LL
# (enqueue.cc:91-102, 461) — each channel taking ⌈traffic per channel / traffic per cell⌉ cells, traffic per channel
# max(32 KiB, traffic) / channels rounded up to 16 B
MIN_TRAFFIC_PER_CHANNEL = 32 << 10
LL_TRAFFIC_FACTOR = 4
