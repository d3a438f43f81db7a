"""Minimal setup.py reading every field from settings.ini (nbdev 2 layout)."""
from configparser import ConfigParser
import setuptools

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
c = cfg['DEFAULT']
reqs = c.get('requirements', '').split()
extras = {name: c.get(f'{name}_requirements', '').split() for name in ('video', 'studies', 'demo', 'docs', 'dev')}
extras['all'] = sorted({r for name in ('video', 'studies', 'demo', 'docs') for r in extras[name]})
scripts = [s.strip() for s in c.get('console_scripts', '').split('\n') if s.strip()]

setuptools.setup(
    name=c['lib_name'], version=c['version'], description=c['description'],
    long_description=open('README.md', encoding='utf-8').read(), long_description_content_type='text/markdown',
    project_urls={'Source': c['git_url']},
    license='Apache-2.0', author=c['author'], author_email=c['author_email'],
    url=c['git_url'], keywords=c['keywords'].split(),
    classifiers=['Development Status :: 3 - Alpha', 'Intended Audience :: Science/Research',
                 'Programming Language :: Python :: 3.11'],
    packages=setuptools.find_packages(include=['videolights', 'videolights.*']),
    include_package_data=True,
    package_data={'videolights': ['assets/*', 'assets/**/*', 'studies/notebooks/*.ipynb', 'studies/grids/*.yaml']},
    install_requires=reqs, extras_require=extras,
    python_requires='>=' + c['min_python'], zip_safe=False,
    entry_points={'console_scripts': scripts, 'nbdev': [f"{c['lib_path']}={c['lib_path']}._modidx:d"]},
)
