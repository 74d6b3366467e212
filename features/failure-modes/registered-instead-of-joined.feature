@failure-mode @scenario-registered-instead-of-joined
Feature: Registered instead of joined
  The user types the email into "Set up a work or school account" and clicks Next instead of the join link; the PC is only Entra registered.
  Guide section: AzureAdJoined : NO after setup

  Scenario: Registered instead of joined: the symptom
    Given the scenario "registered-instead-of-joined"
    When the user tries to join the PC as the scenario describes
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : NO"
    And the output shows "WorkplaceJoined : YES"
    And the output shows "WorkAccountCount : 1"
    And the output shows "AzureAdPrt : NO"
    And the device is not joined
    And the device is not enrolled in Intune

  Scenario: Registered instead of joined: the fix repairs it
    Given the scenario "registered-instead-of-joined"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the output shows "WorkplaceJoined : NO"
    And the output shows "AzureAdPrt : YES"
    And the device is joined
    And the device is enrolled in Intune
