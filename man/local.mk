## man pages berthd(8) and berth(1): a hand-written template each, the options
## sections from the programs' own --help (scripts/mkman.sh), so they cannot drift
man8_MANS = man/berthd.8
man1_MANS = man/berth.1
CLEANFILES += $(man8_MANS) $(man1_MANS)
EXTRA_DIST += man/berthd.8.in man/berth.1.in scripts/mkman.sh
man/berthd.8: $(srcdir)/man/berthd.8.in $(srcdir)/scripts/mkman.sh berthd$(EXEEXT)
	@$(MKDIR_P) man
	$(AM_V_GEN)$(SHELL) $(srcdir)/scripts/mkman.sh ./berthd$(EXEEXT) $(srcdir)/man/berthd.8.in '$(PACKAGE_VERSION)' >$@.tmp && mv $@.tmp $@
man/berth.1: $(srcdir)/man/berth.1.in $(srcdir)/scripts/mkman.sh berth$(EXEEXT)
	@$(MKDIR_P) man
	$(AM_V_GEN)$(SHELL) $(srcdir)/scripts/mkman.sh ./berth$(EXEEXT) $(srcdir)/man/berth.1.in '$(PACKAGE_VERSION)' >$@.tmp && mv $@.tmp $@

## bash completion for both commands (their options read from --help when completing)
bashcompletiondir = $(datadir)/bash-completion/completions
dist_bashcompletion_DATA = completion/berthd completion/berth
