"""The menu the till tests share, and `laoke` run against a home as a person runs it."""

import os
import subprocess
import sys

from tests.support.hubproc import ROOT

HEADER = "code,name,category,price_fen,member_price_fen,station,members_only,daily_limit,notes"
MENU_CSV = "\ufeff" + HEADER + """
HS01,宫保鸡丁,热菜,4800,4200,热菜间,0,,the kitchen's own column
LC01,拍黄瓜,凉菜,1800,,凉菜间,0,,
XL01,限量和牛,热菜,28800,26800,热菜间,1,2,
RICE,米饭,主食,300,,,0,,
"""



def laoke(home, *args):
    result = subprocess.run([sys.executable, "-m", "hub", "--home", str(home), *args],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    return result.stdout
