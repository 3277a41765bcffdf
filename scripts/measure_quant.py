#!/usr/bin/python3
"""Measures every quantization setting on every model (docs/accuracy.md, "Defaults"):

    scripts/measure_quant.py [--models a,b] [--settings s1,s2] [--out table.json] [--target k210]
    scripts/measure_quant.py --markdown table.json | --gaps table.json

For each model: convert with emc-convert on its CALIBRATION inputs, compare with emc-compare
--layers --json on its EVALUATION inputs (never the same files), record the final layer's SQNR
(dB, float output vs kmodel output, pooled), top-1 agreement, mean/max |dp| and, for labelled
data, both accuracies. Settings are emc-convert flag sets. Needs the built tools (build/bin or
EMC_BUILD_DIR) and, for nsfwjs_mobilenet_v2, scripts/thirdparty_models.sh's output
(EMC_THIRDPARTY_DIR, default build/thirdparty).
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get('EMC_BUILD_DIR', os.path.join(ROOT, 'build')), 'bin')
SHARED = os.path.join(ROOT, '..', 'shared', 'models')
SHARED_H5 = os.path.join(ROOT, '..', 'shared', 'models_h5')
THIRD = os.environ.get('EMC_THIRDPARTY_DIR', os.path.join(ROOT, 'build', 'thirdparty'))
SAMPLES = os.path.join(ROOT, 'samples', 'models')

SETTINGS = {
    # Whatever emc-convert does without flags.
    'default': [],
    'per-layer minmax': ['--per-layer', '--quant', 'minmax'],
    'per-channel minmax': ['--per-channel', '--quant', 'minmax'],  # every layer per channel
    # Range methods with the default weight granularity.
    'mse': ['--quant', 'mse'],
    'percentile': ['--quant', 'percentile'],
    'kld': ['--quant', 'kld'],
    # Cross-layer equalization (--cle).
    'per-layer minmax cle': ['--per-layer', '--quant', 'minmax', '--cle'],
    'minmax cle': ['--quant', 'minmax', '--cle'],
    'mse cle': ['--quant', 'mse', '--cle'],
    'percentile cle': ['--quant', 'percentile', '--cle'],
}
# -p cpu has per-channel int8 weights only.
CPU_SETTINGS = ['default', 'mse', 'percentile', 'kld', 'minmax cle', 'mse cle', 'percentile cle']


def split_files(files):
    """First half (rounded up) calibrates, the rest evaluates."""
    files = sorted(files)
    k = (len(files) + 1) // 2
    return files[:k], files[k:]


def models():
    out = {}
    # Samples with their own calibration folder / test images.
    out['shapes_cnn'] = dict(json=f'{SAMPLES}/shapes_cnn/model.json', range='0,1',
                             calib_dir=f'{SAMPLES}/shapes_cnn/calib', eval_dir=f'{SAMPLES}/shapes_cnn/images')
    out['fashion_cnn'] = dict(json=f'{SAMPLES}/fashion_cnn/model.json', range='0,1',
                              calib_dir=f'{SAMPLES}/fashion_cnn/calib',
                              eval_dir=f'{SAMPLES}/fashion_cnn/test_subset')
    # Samples and real models with stored input tensors: split them.
    # The range each model's stored tensors were made with (emc-convert refuses tensors outside the
    # range it is given; None: the default, 0,1, or 0,255 for a model starting with a Rescaling).
    minus_one_one = {'mobilenet_v1_025', 'teachable_nested', 'tupleblog_gender'}
    for name in sorted(os.listdir(SAMPLES)):
        if name in out or not glob.glob(f'{SAMPLES}/{name}/inputs/*.f32'):
            continue
        out[name] = dict(json=f'{SAMPLES}/{name}/model.json',
                         range='-1,1' if name in minus_one_one else None,
                         f32=glob.glob(f'{SAMPLES}/{name}/inputs/*.f32'))
    for name in sorted(os.listdir(SHARED)) if os.path.isdir(SHARED) else []:
        if os.path.exists(f'{SHARED}/{name}/model.json'):
            out[name] = dict(json=f'{SHARED}/{name}/model.json',
                             range='-1,1' if name in minus_one_one else None,
                             f32=glob.glob(f'{SHARED}/{name}/inputs/*.f32'))
    # Keras .h5 models with at least two stored inputs (deepmech_crop_detector has one: nothing to
    # evaluate on that the calibration has not seen).
    for name in sorted(os.listdir(SHARED_H5)) if os.path.isdir(SHARED_H5) else []:
        f32 = glob.glob(f'{SHARED_H5}/{name}/inputs/*.f32')
        if os.path.exists(f'{SHARED_H5}/{name}/model.h5') and len(f32) >= 2:
            out[name] = dict(json=f'{SHARED_H5}/{name}/model.h5', range=None, f32=f32)
    # nsfwjs: calibrated on calib/ (Debian photos), evaluated on all its test photos.
    nsfw = os.path.join(THIRD, 'mobilenet_v2')
    if os.path.exists(f'{nsfw}/model.json'):
        out['nsfwjs_mobilenet_v2'] = dict(json=f'{nsfw}/model.json', range='0,1', calib_dir=f'{nsfw}/calib',
                                          eval_f32=glob.glob(f'{nsfw}/inputs/*.f32'))
        # aXeleRate's YOLOv2 (MobileNet backbone, 224x224x3, no stored inputs): the same photos.
        yolo = f'{SHARED_H5}/axelerate_yolov2_mbnet/model.h5'
        if os.path.exists(yolo):
            out['axelerate_yolov2_mbnet'] = dict(json=yolo, range='0,1', calib_dir=f'{nsfw}/calib',
                                                 eval_f32=glob.glob(f'{nsfw}/inputs/*.f32'))
    return out


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def measure(name, m, flags, tmp, target):
    calib = os.path.join(tmp, 'calib')
    ev = os.path.join(tmp, 'eval')
    for d in (calib, ev):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    compare_inputs = []
    if 'f32' in m:
        c, e = split_files(m['f32'])
        for f in c:
            os.symlink(f, os.path.join(calib, os.path.basename(f)))
        for f in e:
            compare_inputs += ['--input-f32', f]
    elif 'eval_f32' in m:
        calib = m['calib_dir']
        for f in sorted(m['eval_f32']):
            compare_inputs += ['--input-f32', f]
    else:
        calib = m['calib_dir']
        compare_inputs = ['--dataset', m['eval_dir']]
    km = os.path.join(tmp, 'm.kmodel')
    rng = ['--input-range', m['range']] if m['range'] else []
    rc, _, err = run([f'{BIN}/emc-convert', m['json'], '-p', target, '--dataset', calib, '-o', km] + rng + flags)
    if rc != 0:
        return {'error': err.strip().splitlines()[-1] if err.strip() else f'exit {rc}'}
    rc, out, err = run([f'{BIN}/emc-compare', m['json'], km, '--layers', '--json', '-q'] + rng + compare_inputs)
    if rc != 0:
        return {'error': err.strip().splitlines()[-1] if err.strip() else f'exit {rc}'}
    j = json.loads(out)
    s = j['summary']
    last = [l for l in j.get('layers', []) if l.get('compared')]
    # A softmax output's SQNR is set by the few images whose top probability is not near 1; the
    # logits before it (the last compared non-softmax layer) are recorded too.
    logits = [l for l in last if 'SOFTMAX' not in l.get('type', '')]
    res = {'final_sqnr_db': last[-1].get('sqnr_db') if last else None,
           'logit_sqnr_db': logits[-1].get('sqnr_db') if logits and 'SOFTMAX' in last[-1].get('type', '') else None,
           'top1_agreement': s['top1_agreement'], 'images': s['images'],
           'mean_abs_dp': s['mean_abs_dp'], 'max_abs_dp': s['max_abs_dp']}
    if s.get('labelled'):
        res['float_top1'] = s['float_top1_correct'] / s['labelled']
        res['quant_top1'] = s['quant_top1_correct'] / s['labelled']
    return res


def markdown(table):
    sets = list(next(iter(table.values())))
    print('| model | ' + ' | '.join(sets) + ' |')
    print('|---' * (len(sets) + 1) + '|')
    for name, row in table.items():
        best = max((r['final_sqnr_db'] for r in row.values() if r.get('final_sqnr_db') is not None), default=None)
        cells = []
        for sname in sets:
            r = row[sname]
            if 'error' in r:
                cells.append('error')
                continue
            q = r.get('final_sqnr_db')
            cell = '-' if q is None else f'{q:.1f}'
            if q is not None and best is not None and q == best:
                cell = f'**{cell}**'
            if r.get('logit_sqnr_db') is not None:
                cell += f" ({r['logit_sqnr_db']:.1f})"
            cell += f" / {round(r['top1_agreement'] * r['images'])}/{r['images']} / {r['mean_abs_dp']:.4f}"
            cells.append(cell)
        print(f'| {name} | ' + ' | '.join(cells) + ' |')
    return 0


def gaps(table, skip=('tiny_dense', 'mobilenet_v1_025')):
    """Per model: the default's gap to the best setting; per setting: its worst gap over the
    models (not those in `skip`: at the float rounding floor / untrained) and how many are more
    than 1 dB behind. Final-layer SQNR, and the logits' where the model ends in a softmax."""
    def val(r, key):
        if 'error' in r:
            return None
        v = r.get(key)
        return r.get('final_sqnr_db') if v is None and key == 'logit_sqnr_db' else v
    for key in ('final_sqnr_db', 'logit_sqnr_db'):
        print(f'== {key}')
        for name, row in table.items():
            d = val(row.get('default', {'error': 1}), key)
            vals = [(val(r, key), s) for s, r in row.items() if val(r, key) is not None]
            if d is None or not vals:
                continue
            best, sname = max(vals)
            print(f'  {name:24s} default {d:7.2f}  best {best:7.2f} ({sname})  gap {best - d:5.2f}')
        for sname in next(iter(table.values())):
            g = []
            for name, row in table.items():
                vals = [val(r, key) for r in row.values() if val(r, key) is not None]
                v = val(row.get(sname, {'error': 1}), key)
                if name not in skip and v is not None:
                    g.append((max(vals) - v, name))
            if g:
                w = max(g)
                print(f'  {sname:24s} worst gap {w[0]:6.2f} ({w[1]}), {sum(x > 1 for x, _ in g)} of {len(g)} '
                      'models more than 1 dB behind')
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--models')
    ap.add_argument('--settings')
    ap.add_argument('--target', default='k210')
    ap.add_argument('--out')
    ap.add_argument('--markdown', help='print the table of a saved --out file as Markdown and exit')
    ap.add_argument('--gaps', help='print the gaps to the best setting of a saved --out file and exit')
    a = ap.parse_args()
    if a.markdown:
        return markdown(json.load(open(a.markdown)))
    if a.gaps:
        return gaps(json.load(open(a.gaps)))
    ms = models()
    names = a.models.split(',') if a.models else list(ms)
    sets = a.settings.split(',') if a.settings else (CPU_SETTINGS if a.target == 'cpu' else list(SETTINGS))
    table = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in names:
            table[n] = {}
            for sname in sets:
                r = measure(n, ms[n], SETTINGS[sname], tmp, a.target)
                table[n][sname] = r
                q = r.get('final_sqnr_db')
                print(f'{n:24s} {sname:24s} ' + (f"error: {r['error']}" if 'error' in r else
                      f"final SQNR {q if q is None else round(q, 2)} dB  " +
                      (f"logits {round(r['logit_sqnr_db'], 2)} dB  " if r.get('logit_sqnr_db') is not None else '') +
                      f"top-1 agree {100 * r['top1_agreement']:.1f} %  "
                      f"mean|dp| {r['mean_abs_dp']:.5f}  max|dp| {r['max_abs_dp']:.4f}" +
                      (f"  acc {100 * r['float_top1']:.2f}/{100 * r['quant_top1']:.2f}" if 'quant_top1' in r else '')),
                      flush=True)
    if a.out:
        with open(a.out, 'w') as f:
            json.dump(table, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
