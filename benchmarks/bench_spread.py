"""Time gpu_render's spread/dynspread against Datashader's on the same shaded image.

Usage: python benchmarks/bench_spread.py [--small] [--repeat N]
  --small (or GPU_RENDER_BENCH_SMALL=1): 480x270 image, for quick runs while developing.
Each case is run once to warm up (numba compilation / cache load), then timed ``repeat`` times;
the median is reported. Outputs are checked byte for byte against Datashader's before timing.
Writes benchmarks/results/spread.json and spread.txt (a short table), and prints the table.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import datashader as ds
import datashader.transfer_functions as dtf
import numpy as np
import colorcet
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gpu_render import transfer_functions as tf  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def make_images(width, height, seed=0):
    """A dense image (clusters + background scatter) and a sparse one, shaded by Datashader."""
    rng = np.random.default_rng(seed)
    n = width * height // 2
    centres = rng.uniform(-3, 3, size=(8, 2))
    pick = rng.integers(0, 8, n)
    xy = centres[pick] + rng.normal(scale=rng.uniform(0.1, 0.6, 8)[pick, None], size=(n, 2))
    noise = rng.uniform(-4, 4, size=(n // 4, 2))
    df = pd.DataFrame(np.vstack([xy, noise]), columns=['x', 'y'])
    cvs = ds.Canvas(width, height, x_range=(-4, 4), y_range=(-4, 4))
    dense = dtf.shade(cvs.points(df, 'x', 'y'), cmap=colorcet.fire, how='eq_hist')
    sparse = dtf.shade(cvs.points(df.iloc[:width * height // 200], 'x', 'y'), cmap=colorcet.fire)
    return dense, sparse


def as_ours(img):
    return tf.Image(img.data, coords=img.coords, dims=img.dims, name=img.name)


def median_ms(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--small', action='store_true',
                        default=os.environ.get('GPU_RENDER_BENCH_SMALL') == '1')
    parser.add_argument('--repeat', type=int, default=5)
    args = parser.parse_args()
    width, height = (480, 270) if args.small else (1920, 1080)
    dense, sparse = make_images(width, height)
    cases = [
        ('spread px=1', dense, lambda m, img: m.spread(img, px=1)),
        ('spread px=2', dense, lambda m, img: m.spread(img, px=2)),
        ('spread px=1 add', dense, lambda m, img: m.spread(img, px=1, how='add')),
        ('dynspread (dense)', dense, lambda m, img: m.dynspread(img)),
        ('dynspread (sparse)', sparse, lambda m, img: m.dynspread(img, threshold=0.5, max_px=3)),
    ]
    rows = []
    for label, img, call in cases:
        ours_img = as_ours(img)
        np.testing.assert_array_equal(call(tf, ours_img).data, call(dtf, img).data)
        theirs = median_ms(lambda: call(dtf, img), args.repeat)
        ours = median_ms(lambda: call(tf, ours_img), args.repeat)
        rows.append({'case': label, 'ours_ms': round(ours, 3), 'datashader_ms': round(theirs, 3),
                     'speedup': round(theirs / ours, 2)})
    occupied = {name: float((im.data >> 24 != 0).mean()) for name, im in
                (('dense', dense), ('sparse', sparse))}
    result = {'benchmark': 'spread', 'width': width, 'height': height, 'repeat': args.repeat,
              'statistic': 'median after one warm-up call', 'occupied_fraction': occupied,
              'machine': {'cpus': os.cpu_count(), 'platform': platform.platform(),
                          'note': 'both sides single-threaded numba; shared, busy machine'},
              'results': rows}
    os.makedirs(os.path.join(HERE, 'results'), exist_ok=True)
    path = os.path.join(HERE, 'results', 'spread.json')
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, path)
    lines = [f"spread benchmark {width}x{height}, median of {args.repeat} (occupied: "
             + ', '.join(f'{k} {v:.1%}' for k, v in occupied.items()) + ')',
             f"{'case':<20}{'ours ms':>10}{'datashader ms':>15}{'speedup':>9}"]
    lines += [f"{r['case']:<20}{r['ours_ms']:>10.2f}{r['datashader_ms']:>15.2f}"
              f"{r['speedup']:>8.2f}x" for r in rows]
    table = os.path.join(HERE, 'results', 'spread.txt')
    with open(table + '.tmp', 'w') as f:
        f.write('\n'.join(lines) + '\n')
    os.replace(table + '.tmp', table)
    print('\n'.join(lines))
    print(f"wrote {path} and {table}")


if __name__ == '__main__':
    main()
